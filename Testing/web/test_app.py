"""The web front door in a real browser: Debian's chromium driven by Playwright, on a real server process.

One server (free port on 127.0.0.1, a fresh root holding the demo sample) serves every test; a page walks
the panel's steps as a person would: a refused path, pick volume and model, Apply, the overlay on screen,
Cancel, Compare methods, Save, and a link with run=1. Truth: the screen's own pixels (the heatmap's
colours appear in a slice view only after Apply), the files under the root, and the CLI's output on the
same files. ``SALIENCY_WEB_SCREENSHOT=PATH`` also writes the README's screenshot there.
"""

from __future__ import annotations

import io
import os
import re
import time

import numpy as np
import pytest

pytest.importorskip("PIL", reason="Pillow is needed to read screenshots")
from PIL import Image  # noqa: E402

TIMEOUT_MS = 120_000
TIMINGS: dict = {}


@pytest.fixture(scope="module")
def page(browser, web_server):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    started = time.perf_counter()
    page.goto(web_server.url)
    page.wait_for_selector("#apply", timeout=TIMEOUT_MS)
    TIMINGS["page_load_s"] = time.perf_counter() - started
    TIMINGS["server_startup_s"] = web_server.startup_seconds
    TIMINGS["rss_idle_mb"] = web_server.rss_mb()
    yield page
    page.close()


def pick(page, field: str, item: str) -> None:
    """Open a Vuetify select/combobox and click one of its list entries, as a person does.

    A combobox filters its list by the text typed into it (an earlier test typed a refused path into the
    volume field), so a person first clears that text; the list is opened again if it shows no such entry.
    """
    box = page.locator(f"#{field}")
    if box.is_editable():
        box.fill("")
    entry = page.locator(".v-overlay--active .v-list-item-title").filter(has_text=re.compile(f"^{re.escape(item)}$"))
    for attempt in range(3):
        box.locator("xpath=ancestor::div[contains(@class, 'v-field')][1]").click()
        try:
            entry.first.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - the menu did not open or showed other entries: close and retry
            if attempt == 2:
                shown = page.locator(".v-overlay--active").all_inner_texts()
                raise AssertionError(f"no entry '{item}' in the list of #{field}; the open menus show {shown}")
            page.keyboard.press("Escape")
    entry.first.click()
    page.keyboard.press("Escape")


def slice_view_pixels(page) -> np.ndarray:
    """RGB pixels of the first slice view, from a screenshot of the page."""
    box = page.locator(".slice-slider-gutter").first.locator("xpath=..").bounding_box()
    png = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def heat_pixels(rgb: np.ndarray) -> int:
    """Pixels in the heatmap's warm colours (Inferno's orange to yellow over grey): red well above blue."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 150) & (r - b > 90) & (g > 60)).sum())


def status_text(page) -> str:
    return page.inner_text("#run-status")


def wait_for_status(page, words, timeout_s=120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = status_text(page)
        if any(w in text for w in words):
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"status never showed {words}: last '{status_text(page)}'")


def test_a_path_outside_the_root_is_refused_on_the_page(page, web_server):
    page.fill("#volume-path", "../../etc/passwd")
    page.click("#open-volume")
    message = page.locator("#message")
    message.wait_for(timeout=20_000)
    assert "is outside the root" in message.inner_text()


def test_pick_apply_shows_the_heatmap_over_the_anatomy(page, web_server):
    pick(page, "volume-path", "sample_ct.nrrd")
    page.click("#open-volume")
    page.wait_for_function(
        "document.querySelector('#status').innerText.includes('volume: sample_ct.nrrd')", timeout=30_000
    )
    pick(page, "model-path", "lesion_classifier.pt")
    page.click("#open-model")
    page.locator("#layer-reason").filter(has_text="model card names").wait_for(timeout=60_000)
    assert "features.block3" in page.inner_text("#layer-reason")
    assert "[default]" in page.inner_text(".v-navigation-drawer")  # the default layer is marked in the list
    page.click("text=Model card (read-only)")
    assert '"task": "classification"' in page.locator("#card-text").inner_text(timeout=10_000)
    pick(page, "method", "gradcam")
    page.wait_for_timeout(500)
    before = heat_pixels(slice_view_pixels(page))
    assert before == 0  # control: no heatmap colours on the CT before Apply

    clicked = time.perf_counter()
    page.click("#apply")
    seen = []
    while time.perf_counter() - clicked < 120:  # the server stays responsive: progress shows while it runs
        seen.append(status_text(page))
        if heat_pixels(slice_view_pixels(page)) > 200:
            break
        page.wait_for_timeout(250)
    TIMINGS["click_to_overlay_s"] = time.perf_counter() - clicked
    assert heat_pixels(slice_view_pixels(page)) > 200, seen[-5:]
    assert wait_for_status(page, ["Done"]) == "Done"
    assert any(s.startswith(("Starting", "Loading", "Computing")) for s in seen), seen[:5]
    TIMINGS["rss_after_run_mb"] = web_server.rss_mb()
    assert "lesion" in page.inner_text("#prediction-text")

    shown = heat_pixels(slice_view_pixels(page))
    page.locator("#display .v-slider [role='slider']").first.focus()  # the threshold: keyboard, as a person may
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(1500)
    assert heat_pixels(slice_view_pixels(page)) < 0.7 * shown  # weaker saliency became transparent

    page.click("#save")
    page.locator("#saved").filter(has_text="results/sample_ct_gradcam.nrrd").wait_for(timeout=30_000)
    results = web_server.root / "results"
    assert sorted(p.name for p in results.iterdir()) == [
        "sample_ct_gradcam.nrrd",
        "sample_ct_gradcam.png",
        "sample_ct_gradcam_prediction.json",
    ]


def test_cancel_stops_the_run_and_leaves_nothing(page, web_server):
    results = web_server.root / "results"
    before = sorted(results.iterdir()) if results.exists() else []
    pick(page, "method", "occlusion")
    page.click("#apply")
    page.locator("#apply").filter(has_text="Cancel").wait_for(timeout=20_000)
    page.click("#apply")
    assert wait_for_status(page, ["Cancelled", "Done", "Failed"]) == "Cancelled: the scene was not changed"
    assert (sorted(results.iterdir()) if results.exists() else []) == before
    assert not [p.name for p in web_server.tmp.iterdir() if p.name.startswith("saliency-job-")]  # job folder gone


def test_compare_methods_shows_the_ranked_table_and_the_curves(page, web_server):
    started = time.perf_counter()
    page.click("#compare")
    text = wait_for_status(page, ["Most faithful", "No method", "Failed"], timeout_s=150)
    TIMINGS["compare_s"] = time.perf_counter() - started
    assert text.startswith("Most faithful"), text
    rows = page.locator("#comparison-table tbody tr")
    rows.nth(2).wait_for(timeout=20_000)  # the table comes in its own state update, after the status line
    assert rows.count() >= 3
    first = rows.nth(0).locator("td")
    assert first.nth(0).inner_text() == "1" and first.nth(1).inner_text() in text
    assert page.locator("#comparison-curves").evaluate("img => img.naturalWidth") > 200


def test_a_link_with_run_1_saves_the_heatmap_the_cli_writes(browser, web_server, tmp_path):
    import SimpleITK as sitk
    from SaliencyExplorerLib.cli import main as cli_main

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{web_server.url}?volume=sample_ct.nrrd&model=lesion_classifier.pt&method=gradcam&target=1&run=1")
        try:
            page.locator("#saved").filter(has_text=".nrrd").wait_for(timeout=TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - say what the page says
            raise AssertionError(
                f"no saved heatmap: status '{status_text(page)}', message "
                f"'{page.locator('#message').all_inner_texts()}'"
            ) from exc
        saved = page.locator("#saved div").nth(1).inner_text().strip()
        assert saved.startswith("results/sample_ct_gradcam") and saved.endswith(".nrrd")
        shot = os.environ.get("SALIENCY_WEB_SCREENSHOT")
        if shot:
            page.wait_for_timeout(1500)
            picture = Image.open(io.BytesIO(page.screenshot())).convert("RGB").quantize(256)
            picture.save(shot, optimize=True)
    finally:
        page.close()
    cli_out = tmp_path / "cli.nrrd"
    root = web_server.root
    assert (
        cli_main(
            [
                "explain",
                "-i",
                str(root / "sample_ct.nrrd"),
                "-m",
                str(root / "lesion_classifier.pt"),
                "--method",
                "gradcam",
                "--target",
                "1",
                "-o",
                str(cli_out),
                "-q",
            ]
        )
        == 0
    )
    web, cli = sitk.ReadImage(str(root / saved)), sitk.ReadImage(str(cli_out))
    assert web.GetSize() == cli.GetSize()
    for what in ("GetDirection", "GetOrigin", "GetSpacing"):
        np.testing.assert_allclose(getattr(web, what)(), getattr(cli, what)(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(sitk.GetArrayFromImage(web), sitk.GetArrayFromImage(cli), rtol=0, atol=1e-6)
    print("web timings:", {k: round(v, 2) for k, v in TIMINGS.items()})


def test_an_upload_lands_in_the_root_and_opens(page, web_server):
    from helpers.paths import SAMPLES

    page.set_input_files("#upload", str(SAMPLES / "sample_ct.nrrd"))
    page.wait_for_function(
        "document.querySelector('#status').innerText.includes('uploads/sample_ct.nrrd')", timeout=30_000
    )
    assert (web_server.root / "uploads" / "sample_ct.nrrd").read_bytes() == (SAMPLES / "sample_ct.nrrd").read_bytes()


def test_trust_code_asks_with_the_warning_and_cancel_unticks_it(page, web_server):
    page.click("#trust-code")
    dialog = page.locator("#trust-dialog")
    dialog.wait_for(timeout=10_000)
    assert "can run any program on this computer" in dialog.inner_text()
    page.click("#trust-cancel")
    page.wait_for_timeout(500)
    assert not page.locator("#trust-code").is_checked()


def test_a_click_on_a_slice_view_picks_the_region_of_a_segmentation_model(page, web_server):
    """Truth: after Open the slice views are fitted to the volume, so the view's centre is the volume's
    centre (RAS bounding box) in the view's two in-plane axes; a click near the edge lands far from it."""
    import json

    import SimpleITK as sitk
    import torch
    from helpers.geometry_helpers import CT_CARD, SegNet

    root = web_server.root
    torch.jit.trace(SegNet().eval(), torch.zeros(1, 1, 32, 112, 112)).save(str(root / "seg.ts"))
    (root / "seg.json").write_text(json.dumps({**CT_CARD, "task": "segmentation", "target_layer": None}))
    page.fill("#volume-path", "sample_ct.nrrd")
    page.click("#open-volume")
    page.fill("#model-path", "seg.ts")
    page.click("#open-model")
    page.locator("#model-summary").filter(has_text="torchscript").wait_for(timeout=60_000)
    page.check("#pick-region")

    image = sitk.ReadImage(str(root / "sample_ct.nrrd"))
    corners = [
        image.TransformIndexToPhysicalPoint([i * (n - 1) for i, n in zip(c, image.GetSize())])
        for c in np.ndindex(2, 2, 2)
    ]
    ras = np.asarray(corners) * [-1, -1, 1]
    centre = (ras.min(0) + ras.max(0)) / 2
    box = page.locator(".slice-slider-gutter").first.locator("xpath=..").bounding_box()

    def click_at(x, y):
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(1000)
        text = page.inner_text("#region-text")
        found = re.search(r"R (-?[\d.]+), A (-?[\d.]+), S (-?[\d.]+)", text)
        assert found, f"no region picked: '{text}', message {page.locator('#message').all_inner_texts()}"
        return np.asarray([float(v) for v in found.groups()])

    middle = click_at(box["width"] / 2, box["height"] / 2)
    assert sorted(np.abs(middle - centre))[1] < 10.0, (middle, centre)  # two in-plane axes at the centre
    edge = click_at(box["width"] * 0.2, box["height"] / 2)
    assert np.linalg.norm(edge - middle) > 20.0
