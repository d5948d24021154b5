from ninja import Router

router = Router(tags=["Do not call"])
