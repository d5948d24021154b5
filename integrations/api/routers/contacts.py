from ninja import Router

router = Router(tags=["Contact lists"])
