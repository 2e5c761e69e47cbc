from django.urls import path

from generation import views

app_name = "generation"

job_urls = [
    path("jobs/", views.create_job, name="create-job"),
    path("jobs/trash/", views.trash_jobs, name="trash-jobs"),
    path("jobs/restore/", views.restore_jobs, name="restore-jobs"),
    path("jobs/<uuid:code>/", views.job_detail, name="job"),
    path("jobs/<uuid:code>/cancel/", views.cancel, name="cancel-job"),
]

image_urls = [
    path("images/trash/", views.trash_images, name="trash-images"),
    path("images/restore/", views.restore_images, name="restore-images"),
    path("images/<uuid:code>/", views.image, name="image"),
    path("images/<uuid:code>/file/", views.image_file, name="image-file"),
    path("images/<uuid:code>/thumbnail/", views.image_thumbnail, name="image-thumbnail"),
    path("images/<uuid:code>/upscale/", views.upscale, name="upscale-image"),
    path("images/<uuid:code>/share/", views.share, name="share-image"),
    path("images/<uuid:code>/unshare/", views.unshare, name="unshare-image"),
]

# Share links: no login, the token is the key.
share_urls = [
    path("s/<str:token>/", views.shared_image, name="shared-image"),
    path("s/<str:token>/file/", views.shared_image_file, name="shared-image-file"),
]

urlpatterns = [
    path("generate/", views.generate, name="generate"),
    path("gallery/", views.gallery, name="gallery"),
    path("trash/", views.show_trash, name="trash"),
    path("usage/", views.usage, name="usage"),
    *job_urls,
    *image_urls,
    *share_urls,
]
