rule infer:
    input:
        prep=paths.PREP,
        model=model_file,
    output:
        directory(paths.EMBEDDINGS),
    log:
        paths.log("infer"),
    benchmark:
        paths.benchmark("infer")
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        gpu=wf.gpus(CFG.infer.device),
        mem_mb=8000,
        runtime=120,
    params:
        infer=CFG.infer.model_dump(),
    script:
        "../scripts/infer.py"
