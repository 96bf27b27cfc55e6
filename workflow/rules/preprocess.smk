rule preprocess:
    input:
        root=dataset_root,
    output:
        directory("results/{dataset}/prep/{seq}.zarr"),
    log:
        "results/{dataset}/logs/preprocess/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/preprocess/{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        preprocess=CFG.preprocess.model_dump(),
    script:
        "../scripts/preprocess.py"
