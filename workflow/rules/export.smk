rule export:
    input:
        res=result_folder,
    output:
        geff=directory("results/{dataset}/{method}/{seq}.geff.zarr"),
        objects="results/{dataset}/{method}/{seq}_objects.csv",
    log:
        "results/{dataset}/logs/export/{method}_{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/export/{method}_{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/export.py"
