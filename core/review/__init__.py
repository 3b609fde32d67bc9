"""Choosing between takes: the `judge` and its measures, `contact_sheet` pictures, draft
batches (`drafts`), promoting a draft to a master (`promote`), and turning strokes drawn on a
frame into keyframes and directions (`annotate`)."""
