rule train:
    input:
        stores=train_stores,
        settings="results/{dataset}/model/settings.yaml",
    output:
        model="results/{dataset}/train/model.pt",
        candidates=directory("results/{dataset}/train/candidates"),
        config="results/{dataset}/train/config.yaml",
        log_table="results/{dataset}/train/train_log.csv",
        plot=report(
            "results/{dataset}/train/loss.png",
            caption="../report/loss.rst",
            category="Training",
            labels={"dataset": "{dataset}", "figure": "loss curve"},
        ),
    log:
        "results/{dataset}/logs/train.log",
    benchmark:
        "results/{dataset}/benchmarks/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        gpu=wf.gpus(CFG.train.device),
        mem_mb=8000,
        runtime=240,
    params:
        model=CFG.model.model_dump(),
        train=CFG.train.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/train.py"


rule select:
    input:
        model="results/{dataset}/train/model.pt",
        candidates="results/{dataset}/train/candidates",
        stores=validation_stores,
        root=dataset_root,
        settings="results/{dataset}/model/settings.yaml",
        backend="results/clustering_backend.json",
    output:
        model="results/{dataset}/model/model.pt",
        config="results/{dataset}/model/config.yaml",
        postprocess="results/{dataset}/model/postprocess.yaml",
        validation=report(
            "results/{dataset}/model/validation.csv",
            caption="../report/validation.rst",
            category="Training",
            labels={"dataset": "{dataset}", "table": "validation choices"},
        ),
    log:
        "results/{dataset}/logs/select.log",
    benchmark:
        "results/{dataset}/benchmarks/select.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        stages=wf.stage_defaults(CFG),
        explicit=EXPLICIT,
        tune=CFG.adapt.tune,
    script:
        "../scripts/select.py"
