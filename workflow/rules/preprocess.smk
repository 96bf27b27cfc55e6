rule preprocess:
    input:
        root=dataset_root,
        settings=settings_file,
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
        explicit=EXPLICIT,
    script:
        "../scripts/preprocess.py"
