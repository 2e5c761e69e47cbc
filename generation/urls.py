from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("generate/", views.generate, name="generate"),
    path("jobs/", views.create_job, name="create-job"),
    path("jobs/<uuid:code>/", views.job_detail, name="job"),
    path("jobs/<uuid:code>/cancel/", views.cancel, name="cancel-job"),
    path("images/<uuid:code>/", views.image, name="image"),
    path("images/<uuid:code>/file/", views.image_file, name="image-file"),
    path("images/<uuid:code>/thumbnail/", views.image_thumbnail, name="image-thumbnail"),
]
