rule adapt:
    input:
        sources=adapt_inputs,
    output:
        paths.TIMELAPSE_FIT.settings,
    log:
        paths.log("adapt"),
    benchmark:
        paths.benchmark("adapt")
    conda:
        "../../envs/cpu.yaml"
    params:
        root=dataset_root,
        adapt=CFG.adapt.model_dump(),
        defaults=wf.stage_defaults(CFG),
        explicit=EXPLICIT,
        train=train_sequences,
        validation=validation_sequences,
        kind="timelapse",
        ground_truth=ground_truth_choice,
    script:
        "../scripts/adapt.py"


rule rescale:
    input:
        settings=named_model_file(paths.SETTINGS_FILE),
        postprocess=named_model_file(paths.POSTPROCESS_FILE),
        frames=rescale_inputs,
    output:
        settings=paths.RESCALED_SETTINGS,
        postprocess=paths.RESCALED_POSTPROCESS,
    log:
        paths.log("rescale"),
    benchmark:
        paths.benchmark("rescale")
    conda:
        "../../envs/cpu.yaml"
    params:
        diameter=CFG.adapt.object_diameter,
        root=dataset_root,
        sequences=test_sequences,
    script:
        "../scripts/rescale.py"
