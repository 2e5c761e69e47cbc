"""/sdapi/v1/: the A1111 routes, named as the webui names them; anything else is FastAPI's 404."""

from django.urls import path, re_path

from generation import sdapi

app_name = "sdapi"

generation_urls = [
    path("txt2img", sdapi.txt2img, name="txt2img"),
    path("img2img", sdapi.img2img, name="img2img"),
    path("extra-single-image", sdapi.extra_single_image, name="extra-single-image"),
    path("png-info", sdapi.png_info, name="png-info"),
]

control_urls = [
    path("progress", sdapi.progress, name="progress"),
    path("interrupt", sdapi.interrupt, name="interrupt"),
    path("skip", sdapi.skip, name="skip"),
    path("options", sdapi.options, name="options"),
]

catalog_urls = [
    path("sd-models", sdapi.sd_models, name="sd-models"),
    path("samplers", sdapi.samplers, name="samplers"),
    path("schedulers", sdapi.schedulers, name="schedulers"),
    path("upscalers", sdapi.upscalers, name="upscalers"),
    path("scripts", sdapi.scripts, name="scripts"),
]

urlpatterns = [
    *generation_urls,
    *control_urls,
    *catalog_urls,
    re_path(r"^", sdapi.not_found, name="not-found"),
]
