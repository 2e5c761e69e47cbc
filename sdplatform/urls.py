from django.contrib import admin
from django.urls import include, path

from generation.api import api
from sdplatform import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("cluster/", include("cluster.urls")),
    path("", include("generation.urls")),
    path("sdapi/v1/", include("generation.sdapi_urls")),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
