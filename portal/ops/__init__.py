"""Operations: health endpoints for load balancers, and the administrators' queues and jobs page."""
from flask import Flask


def init_app(app: Flask) -> None:
    from portal.extensions import csrf
    from portal.ops.views import bp, health_bp

    app.register_blueprint(health_bp)
    csrf.exempt(health_bp)
    app.register_blueprint(bp)
