"""Language identification from function words."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

import pytest

from pipeline.language import detect_language

SAMPLES = {
    "en": "The foreign ministers of the alliance met in Brussels on Tuesday and agreed that more air-defence "
    "systems would be sent to the eastern members, a spokesperson said after the talks, which were "
    "dominated by the situation on the border with Belarus.",
    "de": "Die Außenminister des Bündnisses haben sich am Dienstag in Brüssel getroffen und beschlossen, dass "
    "mehr Luftabwehrsysteme an die östlichen Mitglieder geliefert werden sollen. Das sagte ein Sprecher "
    "nach den Gesprächen, die auch von der Lage an der Grenze bestimmt waren.",
    "fr": "Les ministres des Affaires étrangères de l'Alliance se sont réunis mardi à Bruxelles et ont convenu "
    "que davantage de systèmes de défense aérienne seraient envoyés aux membres de l'est, a indiqué un "
    "porte-parole à l'issue des discussions sur la situation à la frontière.",
    "es": "Los ministros de Asuntos Exteriores de la alianza se reunieron el martes en Bruselas y acordaron que "
    "se enviarán más sistemas de defensa aérea a los miembros del este, según dijo un portavoz al término "
    "de las conversaciones, que estuvieron marcadas por la situación en la frontera.",
    "ru": "Министры иностранных дел стран альянса встретились во вторник в Брюсселе и договорились, что на "
    "восточный фланг будут направлены новые системы противовоздушной обороны. Об этом сообщил "
    "представитель альянса, который также сказал, что он не видит причин для паники и что ситуация на "
    "границе остается под контролем.",
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_detects_language(lang: str) -> None:
    code, confidence = detect_language(SAMPLES[lang])
    assert code == lang
    assert 0.3 < confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "NATO",
        "Breaking news",
        "Kyiv, Nov 20",
        "2026-11-20 08:15",
        "4,000 12 3.5 99%",
        "1 2 3 4 5 6 7 8 9 10",
        "!!! ??? ... ---",
    ],
)
def test_tiny_or_numeric_input_is_undetermined(text: str) -> None:
    assert detect_language(text) == ("und", 0.0)


def test_words_without_function_words_are_undetermined() -> None:
    assert detect_language("Vilnius Riga Tallinn Warsaw Helsinki Stockholm Oslo") == ("und", 0.0)


def test_sample_words_limits_what_is_read() -> None:
    # only the first five words are read: all English; the German that follows is ignored
    text = "the of and to in " + SAMPLES["de"]
    assert detect_language(text, sample_words=5)[0] == "en"
    assert detect_language(text)[0] == "de"


def test_mixed_text_has_lower_confidence_than_pure() -> None:
    _, pure = detect_language(SAMPLES["en"])
    _, mixed = detect_language(SAMPLES["en"] + " " + SAMPLES["de"])
    assert mixed < pure
