"""Configuration.

The config file, its sections, its one-line errors, the settings files. Light: pydantic and YAML
only, so the DAG and every job may import it.
"""
