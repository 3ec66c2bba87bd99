"""``weasyprint_ffi``: WeasyPrint imported with its C declarations from the cache folder writes the
same PDF as WeasyPrint that parsed them; a planted file is never run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from scholia.writers import weasyprint_ffi
declared = {declare} and weasyprint_ffi.declare(Path({folder!r}))
import weasyprint
from weasyprint.text import ffi
print(declared, type(ffi.ffi).__name__, file=sys.stderr)
html = "<p style='font: 12pt serif; hyphens: auto' lang='en'>" + "Reservoirs and irrigation canals. " * 80 + "</p>"
sys.stdout.buffer.write(weasyprint.HTML(string=html).write_pdf())
"""
ROOT = str(Path(__file__).resolve().parent.parent)


def pdf(folder: Path, declare: bool) -> tuple[bytes, str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=ROOT, folder=str(folder), declare=declare)],
                         capture_output=True, check=True)
    return out.stdout, out.stderr.decode().strip().splitlines()[-1]


def test_kept_declarations_give_the_same_pdf(tmp_path):
    plain, said = pdf(tmp_path, declare=False)
    assert said == "False FFI"
    first, said = pdf(tmp_path, declare=True)  # parses them once and keeps them
    assert said == "True _Declared" and len(list(tmp_path.glob("_weasyprint_ffi_*.py"))) == 1
    again, said = pdf(tmp_path, declare=True)  # from the kept file
    assert said == "True _Declared"
    assert plain == first == again


def test_a_planted_file_is_read_as_data_never_run(tmp_path):
    pdf(tmp_path, declare=True)
    (kept,) = tmp_path.glob("_weasyprint_ffi_*.py")
    kept.write_text(f"import os\nos.system('touch {tmp_path}/pwned')\nffi = os.system('touch {tmp_path}/pwned')\n",
                    encoding="utf-8")
    out, said = pdf(tmp_path, declare=True)
    assert said == "False FFI"  # not accepted: WeasyPrint parses its declarations as usual
    assert out.startswith(b"%PDF") and not (tmp_path / "pwned").exists()
