"""Synthetic county generator: a true population and the agencies' messy extracts.

``generate_county(out, persons=N, seed=S)`` builds a county (天津市宝坻区, 120115) of N
people with households, births, deaths and migrants over 2012–2014, writes the files
the health, police, family planning and statistics agencies would drop into
``out/landing/<agency>/<feed>/`` (with the defects of the agency extract contract), and
the ground truth into ``out/truth/``.
"""

from popdata.generate.api import GenerationSummary, generate_county
from popdata.generate.rates import DefectRates

__all__ = ["DefectRates", "GenerationSummary", "generate_county"]
