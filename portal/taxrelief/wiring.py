"""Connects tax relief to the rest of the app through the existing registries (no other domain imports it)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.journey import reactors
    from portal.journey.services import KINDS, Kind
    from portal.taxrelief import claims, services

    KINDS.setdefault("gift_aid_declared", Kind("Gift Aid declaration made", "giving", "£"))
    KINDS.setdefault("gift_aid_cancelled", Kind("Gift Aid declaration cancelled", "giving", "£"))
    reactors.register("gift-aid-benefits", services.on_redemption, kinds=["points_redeemed"])
    reactors.register("gift-aid-refunds", claims.on_refund, kinds=["gift_refunded"])
