# Fetching the real inputs into resources/ for every `inputs.<role>` with `source: download`.
# Login nodes have internet, compute nodes often do not: every rule here is a localrule. Credentials
# are read by the scripts from ~/.netrc, ~/.cdsapirc or the environment, never passed as params
# (params are recorded in the job metadata).

DOWNLOAD = [] if DEMO else [r for r in ("grace", "era5", "sif", "koppen") if config["inputs"][r]["source"] == "download"]


wildcard_constraints:
    year=r"\d{4}",


if "grace" in DOWNLOAD:

    localrules:
        download_grace,

    rule download_grace:
        message:
            "Downloading the JPL mascon CRI grid {params.version} from PO.DAAC (NASA Earthdata)"
        output:
            DOWNLOAD_FILES["grace"],
        params:
            version=config["inputs"]["grace"]["version"],
            period=config["period"],
        log:
            "logs/download/grace.log",
        benchmark:
            "benchmarks/download/grace.tsv"
        conda:
            "../../envs/download.yaml"
        retries: 2
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        script:
            "../scripts/download_grace.py"


if "era5" in DOWNLOAD:
    from twsrecon.download.cds import cds_request, era5_variables

    localrules:
        download_era5,

    rule download_era5:
        message:
            "Downloading {params.request[0]} for {wildcards.year} from the Copernicus CDS"
        output:
            avgua="resources/era5/{year}/data_stream-moda_stepType-avgua.nc",
            avgad="resources/era5/{year}/data_stream-moda_stepType-avgad.nc",
        params:
            # (dataset, request): the exact request, recorded in the metadata; a change reruns the year.
            request=lambda wc: cds_request(config, int(wc.year)),
            variables=era5_variables(config),
        log:
            "logs/download/era5/{year}.log",
        benchmark:
            "benchmarks/download/era5/{year}.tsv"
        conda:
            "../../envs/download.yaml"
        retries: 2
        threads: 1
        resources:
            mem_mb=2000,
            runtime=720,  # the CDS queue, not the transfer, takes most of the time
            cds_requests=1,  # `--resources cds_requests=N` caps the requests queued at the CDS at once
        script:
            "../scripts/download_era5.py"


if "sif" in DOWNLOAD:

    localrules:
        download_sif,

    rule download_sif:
        message:
            "Downloading the SIF product"
        output:
            DOWNLOAD_FILES["sif"],
        params:
            url=config["inputs"]["sif"]["url"],
            sha256=config["inputs"]["sif"]["sha256"],
            size=config["inputs"]["sif"]["size"],
        log:
            "logs/download/sif.log",
        benchmark:
            "benchmarks/download/sif.tsv"
        conda:
            "../../envs/download.yaml"
        retries: 2
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        script:
            "../scripts/download_url.py"


if "koppen" in DOWNLOAD:

    localrules:
        download_koppen,
        extract_koppen,

    rule download_koppen:
        message:
            "Downloading the Köppen–Geiger archive"
        output:
            "resources/koppen/koppen_geiger_archive.zip",
        params:
            url=config["inputs"]["koppen"]["url"],
            sha256=config["inputs"]["koppen"]["sha256"],
            size=config["inputs"]["koppen"]["size"],
        log:
            "logs/download/koppen.log",
        benchmark:
            "benchmarks/download/koppen.tsv"
        conda:
            "../../envs/download.yaml"
        retries: 2
        threads: 1
        resources:
            mem_mb=1000,
            runtime=60,
        script:
            "../scripts/download_url.py"

    rule extract_koppen:
        message:
            "Extracting the {params.resolution} Köppen–Geiger GeoTIFF"
        input:
            "resources/koppen/koppen_geiger_archive.zip",
        output:
            DOWNLOAD_FILES["koppen"],
        params:
            resolution=config["inputs"]["koppen"]["resolution"],
            member=config["inputs"]["koppen"]["member"],
        log:
            "logs/download/extract_koppen.log",
        benchmark:
            "benchmarks/download/extract_koppen.tsv"
        conda:
            "../../envs/download.yaml"
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/extract_koppen.py"
