"""The still-image mode (`kind: images`): the network without recurrence, one image at a time.

Its folder layout, scores, method and simulated data, built on the stages; nothing outside this
folder, `workflow/rules/images.smk` and its scripts depends on it, so it can go as one unit.
"""
