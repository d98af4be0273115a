"""The fastgru.CustomGRU declarations of the custom cells in tools/fixtures_custom_gru.py
(each cell's docstring there states the same equations), keyed by fixture model."""
from fastgru import CustomGRU

_PACKAGE = "fastgru_fixtures"
LEAKY_TEXTBOOK = CustomGRU(candidate="leaky_relu(xh + hh, 0.2)",
                           h="(1 - z) * h_prev + z * candidate")
POLY_UPDATE = CustomGRU(z="sigmoid((xz + hz)**2 - 0.5 * (xz + hz) + 0.2)", reset_after=False)
TEXTBOOK = CustomGRU(h="(1 - z) * h_prev + z * candidate", reset_after=False)
HARD = CustomGRU(z="hard_sigmoid(xz + hz)", r="hard_sigmoid(xr + hr)",
                 candidate="relu(xh + r * hh, max_value=6.0)")
RZH_NO_BIAS = CustomGRU(gate_order="rzh")

CUSTOM_GRU_OBJECTS = {
    "cgru_leaky_textbook": {f"{_PACKAGE}>LeakyTextbookCell": LEAKY_TEXTBOOK},
    "cgru_poly_update": {f"{_PACKAGE}>PolyUpdateCell": POLY_UPDATE},
    "cgru_textbook": {f"{_PACKAGE}>TextbookCell": TEXTBOOK},
    "cgru_hard": {f"{_PACKAGE}>HardCell": HARD},
    "cgru_rzh_no_bias": {f"{_PACKAGE}>RzhNoBiasCell": RZH_NO_BIAS},
    "cgru_bidirectional_masked": {f"{_PACKAGE}>LeakyTextbookCell": LEAKY_TEXTBOOK},
    "cgru_stateful": {f"{_PACKAGE}>PolyUpdateCell": POLY_UPDATE},
}
