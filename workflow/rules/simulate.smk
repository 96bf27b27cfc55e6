rule simulate:
    output:
        directory(paths.SIMULATED),
    log:
        paths.log("simulate"),
    benchmark:
        paths.benchmark("simulate")
    wildcard_constraints:
        dataset=simulated_datasets(),
    conda:
        "../../envs/cpu.yaml"
    params:
        simulate=simulate_params,
    script:
        "../scripts/simulate.py"
