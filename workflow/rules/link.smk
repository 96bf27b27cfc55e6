rule link:
    input:
        pairs=paths.PAIRS,
        prep=paths.PREP,
        settings=settings_file,
        postprocess=postprocess_file,
    output:
        directory(paths.fill(paths.RESULT, method="cosine")),
    log:
        paths.log("link"),
    benchmark:
        paths.benchmark("link")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        link=CFG.link.model_dump(),
        explicit=EXPLICIT,
    script:
        "../scripts/link.py"


rule link_masks:
    input:
        masks=segmentation_inputs,
        frames=frame_inputs,
    output:
        directory(paths.fill(paths.RESULT, method=paths.MASKS)),
    log:
        paths.log("link_masks"),
    benchmark:
        paths.benchmark("link_masks")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        folder=segmentation_folder,
        sequence=raw_sequence,
        link=CFG.link.model_dump(),
    script:
        "../scripts/link_masks.py"
