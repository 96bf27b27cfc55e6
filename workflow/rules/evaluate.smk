rule evaluate:
    input:
        res=result_folder,
        root=dataset_root,
    output:
        "results/{dataset}/metrics/{method}_{seq}.csv",
    log:
        "results/{dataset}/logs/evaluate/{method}_{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate/{method}_{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        labels=metric_labels,
        evaluate=CFG.evaluate.model_dump(),
    script:
        "../scripts/evaluate.py"


rule metrics:
    input:
        metric_tables(),
    output:
        table=report(
            "results/metrics.csv",
            caption="../report/metrics.rst",
            category="Metrics",
            labels={"table": "all metrics (tidy)"},
        ),
        provenance="results/provenance.json",
    log:
        "results/logs/metrics.log",
    benchmark:
        "results/benchmarks/metrics.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        config=config,
    script:
        "../scripts/metrics.py"
