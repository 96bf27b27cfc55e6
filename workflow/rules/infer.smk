rule infer:
    input:
        prep="results/{dataset}/prep/{seq}.zarr",
        model=model_file,
    output:
        directory("results/{dataset}/embeddings/{seq}.zarr"),
    log:
        "results/{dataset}/logs/infer/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/infer/{seq}.tsv"
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
