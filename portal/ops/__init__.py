"""Operations: health endpoints for load balancers, and the administrators' queues and jobs page."""
from flask import Flask

from portal.extensions import csrf


def init_app(app: Flask) -> None:
    # Here, not at the top: importing the package must not load its pages and the services they call.
    from portal.ops.views import bp, health_bp

    app.register_blueprint(health_bp)
    csrf.exempt(health_bp)
    app.register_blueprint(bp)
