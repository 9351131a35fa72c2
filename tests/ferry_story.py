"""One wire story on a ferry outage, written for the canonical-copy tests (unit and chain)."""

PAGE = "https://www.harbourherald.example/news/2026/11/20/ferry-operator-halts-night-crossings"
WIRE = [
    "TALLINN, Nov 20 (Reuters) - A Baltic ferry operator suspended all night crossings between Tallinn and "
    "Helsinki on Thursday after two of its vessels lost satellite navigation within an hour of each other, "
    "the company said in a statement.",
    "Nordvik Line said its captains had switched to radar and paper charts and that both ships reached port "
    "safely, but that it would not sail after dark until Finnish and Estonian authorities explained the outage.",
    "Estonia's transport ministry said the interference matched a pattern of jamming recorded over the Gulf "
    "of Finland since the spring, which officials in Tallinn have blamed on transmitters in the Kaliningrad "
    "region and near St Petersburg.",
    "The Kremlin has denied any involvement in disrupting navigation signals over the Baltic Sea and has "
    "accused neighbouring states of staging incidents to justify a larger NATO presence in the region.",
    "About 9,000 passengers cross the gulf each night in the busy season, according to port figures, and "
    "freight operators said they were reviewing their own schedules for the weekend.",
]
TAIL = "Fancy a flutter on the markets? Our partner platform lets you back your hunch on oil from five pounds."
INTRO = "Readers in Turku have asked about the night ferries; here is the latest from the wire."
