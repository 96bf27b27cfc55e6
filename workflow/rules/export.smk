rule export:
    input:
        res=result_folder,
    output:
        geff=directory(paths.GEFF),
        objects=paths.OBJECTS,
    log:
        paths.log("export"),
    benchmark:
        paths.benchmark("export")
    conda:
        "../../envs/cpu.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/export.py"
