rule train:
    input:
        train_stores,
    output:
        model="results/{dataset}/model/model.pt",
        config="results/{dataset}/model/config.yaml",
        log_table="results/{dataset}/model/train_log.csv",
        plot=report(
            "results/{dataset}/model/loss.png",
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
    script:
        "../scripts/train.py"
