rule warm_up_clustering:
    output:
        "results/clustering_backend.json",
    log:
        "results/logs/warm_up_clustering.log",
    benchmark:
        "results/benchmarks/warm_up_clustering.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        cluster=CFG.cluster.model_dump(),
    script:
        "../scripts/warm_up_clustering.py"


rule cluster:
    input:
        embeddings="results/{dataset}/embeddings/{seq}.zarr",
        settings=settings_file,
        postprocess=postprocess_file,
        backend="results/clustering_backend.json",
    output:
        temp(directory("results/{dataset}/pairs/{seq}/chunk{chunk}.zarr")),
    log:
        "results/{dataset}/logs/cluster/{seq}/chunk{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster/{seq}/chunk{chunk}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cluster=CFG.cluster.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/cluster.py"


rule gather_pairs:
    input:
        pair_chunks,
    output:
        directory("results/{dataset}/pairs/{seq}.zarr"),
    log:
        "results/{dataset}/logs/gather_pairs/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/gather_pairs/{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/gather_pairs.py"
