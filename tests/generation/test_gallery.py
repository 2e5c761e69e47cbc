from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.generation.media import make_image, make_job

pytestmark = pytest.mark.django_db

URL = reverse("generation:gallery")


def _codes(r) -> list[str]:
    return [str(image.code) for image in r.context["page"]]


def test_it_lists_the_users_images_newest_first(client, alice, bob):
    now = timezone.now()
    old = make_image(alice, created_at=now - timedelta(days=2))
    new = make_image(alice, created_at=now)
    make_image(bob, prompt="bobs secret prompt")
    client.force_login(alice)
    r = client.get(URL)
    assert r.status_code == 200
    assert _codes(r) == [str(new.code), str(old.code)]
    html = r.content.decode()
    assert "bobs secret prompt" not in html
    assert reverse("generation:image-thumbnail", args=[new.code]) in html
    assert 'loading="lazy"' in html


def test_it_leaves_out_trashed_images_and_images_of_trashed_jobs(client, alice):
    kept = make_image(alice)
    make_image(alice, deleted_at=timezone.now())
    make_image(alice, job=make_job(alice, deleted_at=timezone.now()))
    client.force_login(alice)
    assert _codes(client.get(URL)) == [str(kept.code)]


def test_it_filters_by_prompt_date_and_model(client, alice):
    now = timezone.now()
    fox = make_image(alice, prompt="A red fox in snow", created_at=now - timedelta(days=10))
    cat = make_image(alice, prompt="a cat", created_at=now)
    xl = make_image(alice, prompt="a fox, xl", model="sd_xl_base_1.0.safetensors [31e35c80fc]", created_at=now)
    client.force_login(alice)

    assert set(_codes(client.get(URL, {"q": "FOX"}))) == {str(fox.code), str(xl.code)}
    day = (now - timedelta(days=5)).date().isoformat()
    assert set(_codes(client.get(URL, {"date_from": day}))) == {str(cat.code), str(xl.code)}
    assert _codes(client.get(URL, {"date_to": day})) == [str(fox.code)]
    r = client.get(URL, {"model": "sd_xl_base_1.0.safetensors [31e35c80fc]"})
    assert _codes(r) == [str(xl.code)]
    # The model filter offers the models of the user's own images.
    assert [value for value, _ in r.context["filters"].fields["model"].choices][1:] == sorted({fox.model_name, xl.model_name})


def test_it_ignores_an_invalid_filter_and_says_so(client, alice):
    image = make_image(alice)
    client.force_login(alice)
    r = client.get(URL, {"date_from": "yesterday-ish"})
    assert _codes(r) == [str(image.code)]
    assert "date_from" in r.context["filters"].errors


def test_it_paginates_and_keeps_the_filters_in_page_links(client, alice, monkeypatch):
    monkeypatch.setattr("generation.views.PAGE_SIZE", 2)
    for _ in range(5):
        make_image(alice, prompt="fox")
    client.force_login(alice)
    r = client.get(URL, {"q": "fox"})
    assert len(_codes(r)) == 2
    assert "?q=fox&amp;page=2" in r.content.decode()
    assert len(_codes(client.get(URL, {"q": "fox", "page": 3}))) == 1
    # Out of range: the last page, not an error.
    assert len(_codes(client.get(URL, {"q": "fox", "page": 99}))) == 1


@pytest.mark.parametrize("filters", [{}, {"q": "fox", "model": "v1-5-pruned-emaonly.safetensors [6ce0161689]"}])
def test_it_runs_the_same_queries_for_page_sizes_5_and_40(client, alice, monkeypatch, filters, django_assert_max_num_queries, django_assert_num_queries):
    for _ in range(40):
        make_image(alice, prompt="fox")
    client.force_login(alice)
    client.get(URL)  # the session and user lookups settle on the first request

    monkeypatch.setattr("generation.views.PAGE_SIZE", 5)
    with django_assert_max_num_queries(6) as small:
        r = client.get(URL, filters)
    assert len(_codes(r)) == 5

    monkeypatch.setattr("generation.views.PAGE_SIZE", 40)
    with django_assert_num_queries(len(small)):
        r = client.get(URL, filters)
    assert len(_codes(r)) == 40


def test_it_requires_login(client):
    r = client.get(URL)
    assert r.status_code == 302
    assert r.url.startswith(reverse("account_login"))
