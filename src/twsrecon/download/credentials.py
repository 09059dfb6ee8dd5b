"""Where the providers' credentials come from, checked before any request is sent.

The functions return the credentials (to hand to the client libraries) and a description of their
origin that is safe to log; the error messages say where credentials go and never echo a secret.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

EARTHDATA_HOST = "urs.earthdata.nasa.gov"


class CredentialsError(RuntimeError):
    """Credentials for a provider are missing or incomplete."""


def _home(home) -> Path:
    return Path(home) if home is not None else Path.home()


def cds_credentials(env=None, home=None) -> tuple[str, str, str]:
    """(url, key, origin) for the Copernicus CDS: CDSAPI_URL/CDSAPI_KEY, else the file CDSAPI_RC or
    ~/.cdsapirc (lines `url: ...` and `key: ...`), the places `cdsapi` reads."""
    env = os.environ if env is None else env
    url, key = env.get("CDSAPI_URL"), env.get("CDSAPI_KEY")
    origin = "environment variables CDSAPI_URL/CDSAPI_KEY"
    rc = Path(env.get("CDSAPI_RC") or _home(home) / ".cdsapirc")
    if not (url and key) and rc.is_file():
        values = {}
        for line in rc.read_text().splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() in ("url", "key"):
                values[name.strip()] = value.strip()
        url, key = url or values.get("url"), key or values.get("key")
        origin = f"{rc}" if not (env.get("CDSAPI_URL") or env.get("CDSAPI_KEY")) else f"{rc} and environment"
    if not url or not key:
        lacking = " and ".join(n for n, v in (("url", url), ("key", key)) if not v)
        raise CredentialsError(
            f"Copernicus CDS credentials missing ({lacking} not found): create an account at "
            "https://cds.climate.copernicus.eu, accept the licence of the dataset you download "
            "(ERA5-Land or ERA5 monthly means), then put your API key in ~/.cdsapirc as two lines\n"
            "  url: https://cds.climate.copernicus.eu/api\n  key: <your personal access token>\n"
            f"(or in the file named by CDSAPI_RC, or in the environment variables CDSAPI_URL and CDSAPI_KEY). "
            f"Looked in: environment, {rc}")
    return url, key, origin


def earthdata_credentials(env=None, home=None) -> str:
    """The earthaccess login strategy that will work: 'environment' (EARTHDATA_USERNAME and
    EARTHDATA_PASSWORD, or EARTHDATA_TOKEN) or 'netrc' (a `machine urs.earthdata.nasa.gov` entry with
    login and password in $NETRC or ~/.netrc)."""
    env = os.environ if env is None else env
    if (env.get("EARTHDATA_USERNAME") and env.get("EARTHDATA_PASSWORD")) or env.get("EARTHDATA_TOKEN"):
        return "environment"
    path = Path(env.get("NETRC") or _home(home) / ".netrc")
    problem = f"{path} does not exist"
    if path.is_file():
        try:
            entry = netrc.netrc(str(path)).authenticators(EARTHDATA_HOST)
        except (netrc.NetrcParseError, OSError) as err:
            entry, problem = None, f"{path} cannot be parsed ({type(err).__name__}, line {getattr(err, 'lineno', '?')})"
        else:
            problem = f"{path} has no 'machine {EARTHDATA_HOST}' entry with login and password"
        if entry and entry[0] and entry[2]:
            return "netrc"
    partial = [n for n in ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD") if env.get(n)]
    hint = f" (only {partial[0]} is set)" if len(partial) == 1 else ""
    raise CredentialsError(
        "NASA Earthdata credentials missing: create a free account at https://urs.earthdata.nasa.gov, then "
        f"add the line\n  machine {EARTHDATA_HOST} login <user> password <password>\n"
        "to ~/.netrc (chmod 600; or the file named by NETRC), or set EARTHDATA_USERNAME and "
        f"EARTHDATA_PASSWORD (or EARTHDATA_TOKEN){hint}. Found: {problem}")
