rule baseline:
    input:
        sources=frame_inputs,
        settings=settings_file,
    output:
        directory(paths.fill(paths.RESULT, method="baseline")),
    log:
        paths.log("baseline"),
    benchmark:
        paths.benchmark("baseline")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        root=dataset_root,
        baseline=CFG.baseline.model_dump(),
        link=CFG.link.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/baseline.py"
