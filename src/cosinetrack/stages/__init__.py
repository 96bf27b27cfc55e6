"""The workflow's stages, one module per rule (as in workflow/rules/).

Each has one `run_<stage>` entry point that its rule script calls.
"""
