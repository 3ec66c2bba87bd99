"""The annotators' workflow: scaffold notes, re-anchor them after a revision of the text,
exchange W3C Web Annotations, and summarise the apparatus. Each module is one command."""
