"""The README's quickstart is what users and CI run; keep it and .ci/run in step."""

import re

from conftest import REPO


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert commands[0].endswith("snakemake --cores 8")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert quickstart_commands()[1] in ci


def test_cluster_section_runs_what_the_slurm_test_runs() -> None:
    from test_slurm import PROFILE_ARGS, TEST_FLAGS

    text = (REPO / "README.md").read_text()
    section = text.split("## Run on a cluster", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    assert commands[0] == " ".join([".venv/bin/snakemake", *PROFILE_ARGS])
    # The by-hand block: the test's command, with --max-threads for the CI machine's 2 CPUs.
    flags = [*TEST_FLAGS[:-1], "2"]
    assert " ".join([".venv/bin/snakemake", *PROFILE_ARGS, *flags]) in commands[2].splitlines()
    assert "sudo tests/slurm/start-slurm.sh" in commands[2]


def test_readme_is_short_and_every_relative_link_resolves() -> None:
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= 170
    for page in [readme, *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#", 1)[0]
            if path and not re.match(r"[a-z]+:", path):
                assert (page.parent / path).exists(), f"{page.name}: {target}"
