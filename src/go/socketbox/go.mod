module sockswap/socketbox

go 1.19
