rule simulate:
    output:
        directory("resources/datasets/{dataset}"),
    log:
        "results/{dataset}/logs/simulate.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate.tsv"
    wildcard_constraints:
        dataset=simulated_datasets(),
    conda:
        "../../envs/cpu.yaml"
    params:
        simulate=simulate_params,
    script:
        "../scripts/simulate.py"
