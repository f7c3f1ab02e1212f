"""`ninja report`: where a class stands, read from the gradebook `ninja grade` writes.

`summary` turns a gradebook snapshot into the report's tables (the class, the gradients' difficulty,
each learner's progress and feedback); `text` renders them for a terminal, Markdown and CSV,
`html` as one page with plots, and `feedback` as a file per learner. Nothing here imports torch or
writes to the gradebook.
"""
