rule evaluate:
    input:
        res=result_folder,
        sources=evaluate_inputs,
    output:
        paths.METRICS,
    log:
        paths.log("evaluate"),
    benchmark:
        paths.benchmark("evaluate")
    conda:
        "../../envs/cpu.yaml"
    params:
        root=dataset_root,
        labels=metric_labels,
        evaluate=CFG.evaluate.model_dump(),
    script:
        "../scripts/evaluate.py"


rule metrics:
    input:
        metric_tables(),
    output:
        table=report(
            paths.ALL_METRICS,
            caption="../report/metrics.rst",
            category="Metrics",
            labels={"table": "all metrics (tidy)"},
        ),
        provenance=paths.PROVENANCE,
    log:
        paths.log("metrics"),
    benchmark:
        paths.benchmark("metrics")
    conda:
        "../../envs/cpu.yaml"
    params:
        config=config,
    script:
        "../scripts/metrics.py"
