"""What Snakemake imports when it builds the DAG.

Output paths, target lists, logs, provenance, resources. No numerics.
"""
