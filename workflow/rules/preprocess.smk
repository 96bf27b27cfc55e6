rule preprocess:
    input:
        sources=preprocess_inputs,
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
        root=dataset_root,
        preprocess=CFG.preprocess.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/preprocess.py"
