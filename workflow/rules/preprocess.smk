rule preprocess:
    input:
        root=dataset_root,
        settings=settings_file,
    output:
        directory(paths.PREP),
    log:
        paths.log("preprocess"),
    benchmark:
        paths.benchmark("preprocess")
    conda:
        "../../envs/cpu.yaml"
    params:
        preprocess=CFG.preprocess.model_dump(),
        explicit=EXPLICIT,
        ground_truth=ground_truth_choice,
    script:
        "../scripts/preprocess.py"
