# Still-image datasets (`kind: images`): the network without recurrence, one image at a time,
# never linked; scored per image against the masks with the classical baseline beside it.


rule images_adapt:
    input:
        root=dataset_root,
    output:
        "results/{dataset}/images/model/settings.yaml",
    log:
        "results/{dataset}/logs/images_adapt.log",
    benchmark:
        "results/{dataset}/benchmarks/images_adapt.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        adapt=CFG.adapt.model_dump(),
        defaults=wf.stage_defaults(CFG),
        explicit=EXPLICIT,
        train=train_sequences,
        validation=validation_sequences,
    script:
        "../scripts/images_adapt.py"


rule images_train:
    input:
        root=dataset_root,
        settings="results/{dataset}/images/model/settings.yaml",
    output:
        model="results/{dataset}/images/train/model.pt",
        candidates=directory("results/{dataset}/images/train/candidates"),
        config="results/{dataset}/images/train/config.yaml",
        log_table="results/{dataset}/images/train/train_log.csv",
        plot=report(
            "results/{dataset}/images/train/loss.png",
            caption="../report/loss.rst",
            category="Training",
            labels={"dataset": "{dataset}", "figure": "loss curve"},
        ),
    log:
        "results/{dataset}/logs/images_train.log",
    benchmark:
        "results/{dataset}/benchmarks/images_train.tsv"
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
        preprocess=CFG.preprocess.model_dump(),
        explicit=EXPLICIT,
        splits=train_sequences,
    script:
        "../scripts/images_train.py"


rule images_select:
    input:
        model="results/{dataset}/images/train/model.pt",
        candidates="results/{dataset}/images/train/candidates",
        root=dataset_root,
        settings="results/{dataset}/images/model/settings.yaml",
        backend="results/clustering_backend.json",
    output:
        model="results/{dataset}/images/model/model.pt",
        config="results/{dataset}/images/model/config.yaml",
        postprocess="results/{dataset}/images/model/postprocess.yaml",
        validation=report(
            "results/{dataset}/images/model/validation.csv",
            caption="../report/image_validation.rst",
            category="Training",
            labels={"dataset": "{dataset}", "table": "validation choices"},
        ),
    log:
        "results/{dataset}/logs/images_select.log",
    benchmark:
        "results/{dataset}/benchmarks/images_select.tsv"
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
        "../scripts/images_select.py"


rule images_segment:
    input:
        root=dataset_root,
        model=image_model_file,
        settings=image_settings_file,
        postprocess=image_postprocess_file,
        backend="results/clustering_backend.json",
    output:
        directory("results/{dataset}/images/cosine/{seq}"),
    log:
        "results/{dataset}/logs/images_segment/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/images_segment/{seq}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=wf.gpus(CFG.infer.device),
        mem_mb=8000,
        runtime=120,
    params:
        preprocess=CFG.preprocess.model_dump(),
        cluster=CFG.cluster.model_dump(),
        infer=CFG.infer.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/images_segment.py"


rule images_baseline:
    input:
        root=dataset_root,
        settings=image_settings_file,
    output:
        directory("results/{dataset}/images/baseline/{seq}"),
    log:
        "results/{dataset}/logs/images_baseline/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/images_baseline/{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        baseline=CFG.baseline.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/images_baseline.py"


rule images_evaluate:
    input:
        root=dataset_root,
        cosine="results/{dataset}/images/cosine/{seq}",
        baseline="results/{dataset}/images/baseline/{seq}",
    output:
        report(
            "results/{dataset}/images/metrics/{seq}.csv",
            caption="../report/image_scores.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "split": "{seq}", "table": "image scores"},
        ),
    log:
        "results/{dataset}/logs/images_evaluate/{seq}.log",
    benchmark:
        "results/{dataset}/benchmarks/images_evaluate/{seq}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/images_evaluate.py"
