rule warm_up_clustering:
    output:
        paths.CLUSTERING_WARM_UP,
    log:
        paths.log("warm_up_clustering"),
    benchmark:
        paths.benchmark("warm_up_clustering")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/warm_up_clustering.py"


rule cluster:
    input:
        embeddings=paths.EMBEDDINGS,
        settings=settings_file,
        postprocess=postprocess_file,
        warm_up=paths.CLUSTERING_WARM_UP,
    output:
        temp(paths.CLUSTER_CHUNK),
    log:
        paths.log("cluster"),
    benchmark:
        paths.benchmark("cluster")
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
        cluster_chunk_stores,
    output:
        directory(paths.PAIRS),
    log:
        paths.log("gather_pairs"),
    benchmark:
        paths.benchmark("gather_pairs")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/gather_pairs.py"
