rule figures:
    input:
        res=result_folder,
        root=dataset_root,
    output:
        overlay=report(
            "results/{dataset}/figures/{method}_{seq}_overlay.gif",
            caption="../report/overlay.rst",
            category="Results",
            subcategory="{dataset}",
            labels={"sequence": "{seq}", "method": "{method}", "figure": "tracks"},
        ),
        lineage=report(
            "results/{dataset}/figures/{method}_{seq}_lineage.png",
            caption="../report/lineage.rst",
            category="Results",
            subcategory="{dataset}",
            labels={"sequence": "{seq}", "method": "{method}", "figure": "lineage"},
        ),
    log:
        "results/{dataset}/logs/figures/{method}_{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/figures/{method}_{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figures.py"


rule metrics_table:
    input:
        "results/metrics.csv",
    output:
        report(
            "results/metrics_table.csv",
            caption="../report/metrics_table.rst",
            category="Metrics",
            labels={"table": "method against baseline"},
        ),
    log:
        "results/logs/metrics_table.log",
    benchmark:
        "results/benchmarks/metrics_table.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/metrics_table.py"


rule runtimes:
    input:
        benchmark_files(),
    output:
        table="results/runtimes.csv",
        plot=report(
            "results/runtimes.png",
            caption="../report/runtimes.rst",
            category="Runtime",
            labels={"figure": "runtime per rule"},
        ),
    log:
        "results/logs/runtimes.log",
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/runtimes.py"
