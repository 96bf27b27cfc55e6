rule train:
    input:
        stores=train_stores,
        settings=paths.TIMELAPSE_FIT.settings,
        init=wf.initial_weights(CFG),
    output:
        model=paths.TIMELAPSE_FIT.trained,
        candidates=directory(paths.TIMELAPSE_FIT.candidates),
        config=paths.TIMELAPSE_FIT.trained_config,
        log_table=paths.TIMELAPSE_FIT.train_log,
        plot=report(
            paths.TIMELAPSE_FIT.loss_plot,
            caption="../report/loss.rst",
            category="Training",
            labels={"dataset": "{dataset}", "figure": "loss curve"},
        ),
    log:
        paths.log("train"),
    benchmark:
        paths.benchmark("train")
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
        model=paths.TIMELAPSE_FIT.trained,
        candidates=paths.TIMELAPSE_FIT.candidates,
        stores=validation_stores,
        sources=select_inputs,
        settings=paths.TIMELAPSE_FIT.settings,
        warm_up=paths.CLUSTERING_WARM_UP,
    output:
        model=paths.TIMELAPSE_FIT.model,
        config=paths.TIMELAPSE_FIT.model_config,
        postprocess=paths.TIMELAPSE_FIT.postprocess,
        validation=report(
            paths.TIMELAPSE_FIT.validation,
            caption="../report/validation.rst",
            category="Training",
            labels={"dataset": "{dataset}", "table": "validation choices"},
        ),
    log:
        paths.log("select"),
    benchmark:
        paths.benchmark("select")
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        root=dataset_root,
        stages=wf.stage_defaults(CFG),
        explicit=EXPLICIT,
        tune=CFG.adapt.tune,
    script:
        "../scripts/select.py"
