"""Words the task generator fills requests with: goods, companies and unserved ports.

Company names are invented.  Shippers are picked by the origin's region and
consignees by the destination's, so an e-mail from Santos is signed by a
Brazilian exporter rather than a Korean parts maker.
"""

from __future__ import annotations

DRY_GOODS = (
    "furniture", "auto parts", "cotton textiles", "consumer electronics", "machine parts",
    "ceramic tiles", "toys", "bicycles", "solar panels", "paper rolls", "steel fasteners",
    "plastic housewares", "footwear", "kitchen appliances", "tyres", "coffee beans",
)  # fmt: skip
REEFER_GOODS = (
    "frozen shrimp", "frozen chicken", "fresh bananas", "apples", "chilled beef",
    "frozen fish fillets", "fresh grapes", "dairy products", "avocados",
)  # fmt: skip

SHIPPERS = {
    "asia": (
        "Ningbo Evergrand Furniture Co., Ltd.", "Shenzhen Brightway Electronics Ltd.",
        "Busan Precision Parts Co., Ltd.", "Saigon Garment Export JSC",
        "Klang Valley Rubber Sdn Bhd", "Kaohsiung Steel Works Corp.",
        "Pacific Harvest Seafood Co.",
    ),
    "south_asia": ("Mumbai Textile Mills Pvt Ltd", "Colombo Tea Traders (Pvt) Ltd"),
    "middle_east": ("Jebel Ali Polymers FZE",),
    "europe": (
        "Hanseatic Machinery GmbH", "Rotterdam Agri Trade B.V.",
        "Antwerp Chemical Distribution NV", "Suffolk Engineering Ltd",
    ),
    "mediterranean": ("Valencia Citrus Export S.A.", "Genova Marmi S.r.l.", "Delta Cotton Co."),
    "north_america": ("Savannah Timber Products LLC", "Pacific Coast Hay Exporters Inc."),
    "south_america": ("Santos Coffee Exporters Ltda", "Paulista Juice Concentrates S.A."),
    "oceania": ("Sydney Wool Traders Pty Ltd",),
    "africa": ("Durban Citrus Growers (Pty) Ltd",),
    "caribbean": ("Kingston Rum Distillers Ltd",),
}  # fmt: skip

CONSIGNEES = {
    "asia": ("Tokyo Marine Foods KK", "Shanghai Home Living Co., Ltd.", "Lion City Retail Pte Ltd"),
    "south_asia": ("Bombay Hardware Traders Pvt Ltd",),
    "middle_east": ("Gulf Coast Building Supply LLC", "Emirates Fresh Foods LLC"),
    "europe": (
        "Nordic Home Retail AB", "Rhein Logistics GmbH", "Thames Valley Imports Ltd",
        "Benelux Bike Distribution B.V.",
    ),
    "mediterranean": ("Iberia Foods S.L.", "Lombardia Tessile S.p.A.", "Nile Valley Imports"),
    "north_america": ("Great Lakes Distribution Inc.", "Atlantic Auto Parts LLC"),
    "south_america": ("Sao Paulo Industrial Supply Ltda",),
    "oceania": ("Harbour City Wholesale Pty Ltd",),
    "africa": ("Cape Hardware (Pty) Ltd",),
    "caribbean": ("Island Builders Supply Ltd",),
}  # fmt: skip

# Real ports the desk does not serve: the realistic way to name an unknown port.
UNSERVED_PORTS = ("Reykjavik", "Anchorage", "Mombasa", "Karachi", "Lagos", "Valparaiso")
