# Still-image datasets (`kind: images`): the network without recurrence, one image at a time,
# never linked; scored per image against the masks with the classical baseline beside it.


rule images_adapt:
    input:
        sources=images_adapt_inputs,
    output:
        paths.IMAGES_FIT.settings,
    log:
        paths.log("images_adapt"),
    benchmark:
        paths.benchmark("images_adapt")
    conda:
        "../../envs/cpu.yaml"
    params:
        root=dataset_root,
        adapt=CFG.adapt.model_dump(),
        defaults=wf.stage_defaults(CFG),
        explicit=EXPLICIT,
        train=train_sequences,
        validation=validation_sequences,
    script:
        "../scripts/images_adapt.py"


rule images_train:
    input:
        sources=images_train_inputs,
        settings=paths.IMAGES_FIT.settings,
    output:
        model=paths.IMAGES_FIT.trained,
        candidates=directory(paths.IMAGES_FIT.candidates),
        config=paths.IMAGES_FIT.trained_config,
        log_table=paths.IMAGES_FIT.train_log,
        plot=report(
            paths.IMAGES_FIT.loss_plot,
            caption="../report/loss.rst",
            category="Training",
            labels={"dataset": "{dataset}", "figure": "loss curve"},
        ),
    log:
        paths.log("images_train"),
    benchmark:
        paths.benchmark("images_train")
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        gpu=wf.gpus(CFG.train.device),
        mem_mb=8000,
        runtime=240,
    params:
        root=dataset_root,
        model=CFG.model.model_dump(),
        train=CFG.train.model_dump(),
        preprocess=CFG.preprocess.model_dump(),
        explicit=EXPLICIT,
        splits=train_sequences,
    script:
        "../scripts/images_train.py"


rule images_select:
    input:
        model=paths.IMAGES_FIT.trained,
        candidates=paths.IMAGES_FIT.candidates,
        sources=images_select_inputs,
        settings=paths.IMAGES_FIT.settings,
        warm_up=paths.CLUSTERING_WARM_UP,
    output:
        model=paths.IMAGES_FIT.model,
        config=paths.IMAGES_FIT.model_config,
        postprocess=paths.IMAGES_FIT.postprocess,
        validation=report(
            paths.IMAGES_FIT.validation,
            caption="../report/image_validation.rst",
            category="Training",
            labels={"dataset": "{dataset}", "table": "validation choices"},
        ),
    log:
        paths.log("images_select"),
    benchmark:
        paths.benchmark("images_select")
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
        "../scripts/images_select.py"


rule images_segment:
    input:
        sources=split_inputs,
        model=model_file,
        settings=settings_file,
        postprocess=postprocess_file,
        warm_up=paths.CLUSTERING_WARM_UP,
    output:
        directory(paths.fill(paths.IMAGE_LABELS, method="cosine")),
    log:
        paths.log("images_segment"),
    benchmark:
        paths.benchmark("images_segment")
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=wf.gpus(CFG.infer.device),
        mem_mb=8000,
        runtime=120,
    params:
        root=dataset_root,
        preprocess=CFG.preprocess.model_dump(),
        cluster=CFG.cluster.model_dump(),
        infer=CFG.infer.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/images_segment.py"


rule images_baseline:
    input:
        sources=split_inputs,
        settings=settings_file,
    output:
        directory(paths.fill(paths.IMAGE_LABELS, method="baseline")),
    log:
        paths.log("images_baseline"),
    benchmark:
        paths.benchmark("images_baseline")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        root=dataset_root,
        baseline=CFG.baseline.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/images_baseline.py"


rule images_evaluate:
    input:
        sources=scored_split_inputs,
        cosine=paths.fill(paths.IMAGE_LABELS, method="cosine"),
        baseline=paths.fill(paths.IMAGE_LABELS, method="baseline"),
    output:
        report(
            paths.IMAGE_METRICS,
            caption="../report/image_scores.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "split": "{seq}", "table": "image scores"},
        ),
    log:
        paths.log("images_evaluate"),
    benchmark:
        paths.benchmark("images_evaluate")
    conda:
        "../../envs/cpu.yaml"
    params:
        root=dataset_root,
    script:
        "../scripts/images_evaluate.py"
