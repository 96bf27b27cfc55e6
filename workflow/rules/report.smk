rule figures:
    input:
        res=result_folder,
        sources=frame_inputs,
    output:
        overlay=report(
            paths.OVERLAY,
            caption="../report/overlay.rst",
            category="Results",
            subcategory="{dataset}",
            labels={"sequence": "{seq}", "method": "{method}", "figure": "tracks"},
        ),
        lineage=report(
            paths.LINEAGE,
            caption="../report/lineage.rst",
            category="Results",
            subcategory="{dataset}",
            labels={"sequence": "{seq}", "method": "{method}", "figure": "lineage"},
        ),
    log:
        paths.log("figures"),
    benchmark:
        paths.benchmark("figures")
    conda:
        "../../envs/cpu.yaml"
    params:
        root=dataset_root,
    script:
        "../scripts/figures.py"


rule metrics_table:
    input:
        paths.ALL_METRICS,
    output:
        report(
            paths.METRICS_TABLE,
            caption="../report/metrics_table.rst",
            category="Metrics",
            labels={"table": "method against baseline"},
        ),
    log:
        paths.log("metrics_table"),
    benchmark:
        paths.benchmark("metrics_table")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/metrics_table.py"


rule runtimes:
    input:
        benchmark_files(),
    output:
        table=paths.RUNTIMES,
        plot=report(
            paths.RUNTIMES_PLOT,
            caption="../report/runtimes.rst",
            category="Runtime",
            labels={"figure": "runtime per rule"},
        ),
    log:
        paths.log("runtimes"),
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/runtimes.py"
