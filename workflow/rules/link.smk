rule link:
    input:
        pairs=paths.PAIRS,
        prep=paths.PREP,
        settings=settings_file,
        postprocess=postprocess_file,
    output:
        directory(paths.fill(paths.RESULT, method="cosine")),
    log:
        paths.log("link"),
    benchmark:
        paths.benchmark("link")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        link=CFG.link.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/link.py"
